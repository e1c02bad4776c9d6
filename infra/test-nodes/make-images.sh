#!/usr/bin/env bash
# Builds the root filesystems of the local test images (no registry can be reached here):
#   busybox.tar: a static busybox with every applet, so the image has `sh`;
#   bash.tar:    the same plus a static bash as /bin/bash, a stand-in nvidia-smi printing fixed
#                figures (what the platform reads for a GPU instance's memory), and Debian's scp and
#                rsync with the libraries they load (what `scp -O` and `rsync -e ssh` run on the far
#                side, through the jumpbox), Debian's tput with the xterm terminfo entries (a curses
#                program: what a full-screen program sees of its terminal), Debian's vim.tiny as vim
#                and vi, and glibc's C.UTF-8 locale, which Debian and Ubuntu images have too (without
#                it the shell edits CJK text as bytes, whatever LANG says).
# VERSION names the contents: a change here bumps it (start.sh), so kept tars and images are remade.
set -euo pipefail
DIR="$1"; BUSYBOX="$2"; BASH_STATIC="$3"; VERSION="${4:-1}"
mkdir -p "$DIR"
build() { # name with-bash
  local out="$DIR/$1-v$VERSION.tar" root="$DIR/$1-root"
  [ -f "$out" ] && return 0
  rm -rf "$root"; mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,data,proc,sys,dev}
  cp "$BUSYBOX" "$root/bin/busybox"
  for applet in $("$BUSYBOX" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  if [ "$2" = yes ]; then
    rm -f "$root/bin/bash"; cp "$BASH_STATIC" "$root/bin/bash"
    printf '#!/bin/sh\n# Stand-in for nvidia-smi: fixed figures in the format the platform asks for.\ncase "$*" in\n  *--query-gpu=memory.used,memory.total*) echo "1234, 24564" ;;\n  *) echo "NVIDIA-SMI stand-in" ;;\nesac\n' >"$root/usr/bin/nvidia-smi"
    chmod +x "$root/usr/bin/nvidia-smi"
    for tool in scp rsync tput vim.tiny; do
      [ -x "/usr/bin/$tool" ] || continue
      cp "/usr/bin/$tool" "$root/usr/bin/$tool"
      for lib in $(ldd "/usr/bin/$tool" | grep -oE '/[^ ]+\.so[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
      done
    done
    if [ -x "$root/usr/bin/vim.tiny" ]; then
      ln -s vim.tiny "$root/usr/bin/vim"; ln -s vim.tiny "$root/usr/bin/vi"
      mkdir -p "$root/etc/vim"; cp /etc/vim/vimrc.tiny "$root/etc/vim/"
    fi
    if [ -d /usr/lib/locale/C.utf8 ]; then
      mkdir -p "$root/usr/lib/locale"; cp -r /usr/lib/locale/C.utf8 "$root/usr/lib/locale/"
    fi
    for entry in /lib/terminfo/x/xterm /lib/terminfo/x/xterm-256color /lib/terminfo/v/vt100; do
      [ -e "$entry" ] || continue
      mkdir -p "$root$(dirname "$entry")"
      cp -L "$entry" "$root$entry"
    done
  fi
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  chmod 1777 "$root/tmp"
  tar -C "$root" -cf "$out.part" . && mv "$out.part" "$out"
  rm -rf "$root"
}
build busybox no
build bash yes
