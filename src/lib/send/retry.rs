//! qmail's retry schedule (qmail-send(8)): attempts at ages (c·k)² seconds,
//! c = 10 for local and 20 for remote deliveries.

/// Channel numbers: 0 local, 1 remote.
pub const LOCAL: usize = 0;
pub const REMOTE: usize = 1;

/// `chanskip` of each channel.
pub const CHANSKIP: [i64; 2] = [10, 20];

/// Integer square root (floor).
pub fn isqrt(x: i64) -> i64 {
    if x <= 0 {
        return 0;
    }
    let mut r = (x as f64).sqrt() as i64;
    while r * r > x {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= x {
        r += 1;
    }
    r
}

/// When to try again a message born at `birth`, now being `now`.
pub fn next_retry(birth: i64, now: i64, channel: usize) -> i64 {
    let age = (now - birth).max(0);
    let n = isqrt(age) + CHANSKIP[channel];
    birth + n * n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule() {
        assert_eq!(isqrt(0), 0);
        assert_eq!(isqrt(99), 9);
        assert_eq!(isqrt(100), 10);
        assert_eq!(next_retry(1000, 1000, LOCAL), 1100);
        assert_eq!(next_retry(1000, 1100, LOCAL), 1400);
        assert_eq!(next_retry(1000, 1000, REMOTE), 1400);
        assert_eq!(next_retry(1000, 1400, REMOTE), 2600);
        assert_eq!(next_retry(1000, 500, LOCAL), 1100, "birth in the future");
    }
}
