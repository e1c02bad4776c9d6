#!/usr/bin/env bash
# Builds the root filesystems of the local test images (no registry can be reached here):
#   busybox.tar: a static busybox with every applet, so the image has `sh`;
#   bash.tar:    the same plus a static bash as /bin/bash.
set -euo pipefail
DIR="$1"; BUSYBOX="$2"; BASH_STATIC="$3"
mkdir -p "$DIR"
build() { # name with-bash
  local out="$DIR/$1.tar" root="$DIR/$1-root"
  [ -f "$out" ] && return 0
  rm -rf "$root"; mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,data,proc,sys,dev}
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  [ "$2" = yes ] && { rm -f "$root/bin/bash"; cp "$BASH_STATIC" "$root/bin/bash"; }
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
  tar -C "$root" -cf "$out.part" . && mv "$out.part" "$out"
  rm -rf "$root"
}
build busybox no
build bash yes
