//! The first words of a log line, picked out without allocating: matchup
//! and qmail-metrics look at a dozen words of every line they read.

/// The first `N` items of `words`; "" for those the line lacks.
pub fn first<'a, const N: usize>(words: impl Iterator<Item = &'a str>) -> [&'a str; N] {
    let mut out = [""; N];
    for (slot, w) in out.iter_mut().zip(words) {
        *slot = w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_cuts() {
        assert_eq!(first::<3>("a b".split(' ')), ["a", "b", ""]);
        assert_eq!(first::<2>("a  b c".split(' ')), ["a", ""]);
    }
}
