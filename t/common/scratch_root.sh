# A scratch root for install tests, run by unshare -m -n -p -u --fork as
# root: $1 is the scratch directory, $2 the source tree (with the built
# programs), $3 the script to run inside as /bin/sh -c. The new root has
# the host's /usr and /etc as overlays (writes go to $1/usr.up, $1/etc.up),
# an empty /var, /tmp, /home, /service, /package, its own /proc, loopback
# only, and the source tree (and $SCRATCH_BIND's) bound read-only at its
# own path. Everything
# started inside dies with this script (it is the pid namespace's init).
set -eu
R=$1; src=$2; body=$3
N=$R/root
mount --make-rprivate /
mkdir -p "$N" "$R/usr.up" "$R/usr.wk" "$R/etc.up" "$R/etc.wk"
mount --bind "$N" "$N"
for x in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$x" ]; then ln -sfn "$(readlink "/$x")" "$N/$x"
  elif [ -d "/$x" ]; then mkdir -p "$N/$x"; mount --rbind "/$x" "$N/$x"; fi
done
mkdir -p "$N/usr" "$N/etc" "$N/dev" "$N/proc" "$N/tmp" "$N/var/tmp" "$N/run" "$N/home" "$N/root"
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$R/usr.up,workdir=$R/usr.wk" "$N/usr"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$R/etc.up,workdir=$R/etc.wk" "$N/etc"
mount --rbind /dev "$N/dev"
mount -t proc proc "$N/proc"
chmod 1777 "$N/tmp" "$N/var/tmp"
mkdir -p "$N$src"
mount --bind "$src" "$N$src"
mount -o remount,bind,ro "$N$src"
# More trees to read (colon-separated absolute paths), at their own paths.
IFS=:
for extra in ${SCRATCH_BIND:-}; do
  mkdir -p "$N$extra"
  mount --bind "$extra" "$N$extra"
  mount -o remount,bind,ro "$N$extra"
done
unset IFS
ip link set lo up
hostname mx.test.example
printf '127.0.0.1 mx.test.example mx localhost\n::1 localhost\n' > "$N/etc/hosts"
exec chroot "$N" /bin/sh -c "$body"
