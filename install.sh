#!/bin/sh
# Installs the iii engine binary.
#
#   curl -fsSL <url>/install.sh | sh                  newest release
#   curl -fsSL <url>/install.sh | sh -s -- v0.2.1     a given version ("0.2.1" works too)
#   curl -fsSL <url>/install.sh | BIN_DIR=~/bin sh    another install folder
#
# Environment:
#   BIN_DIR            install folder. Default: /usr/local/bin when it is writable by the
#                      current user, else $HOME/.local/bin. The folder is created if missing.
#   III_DOWNLOAD_BASE  release host (default https://github.com/iii-hq/iii/releases). It must serve
#                        <base>/latest/download/VERSION                   newest version, e.g. "0.7.0"
#                        <base>/download/v<version>/SHA256SUMS            sha256sum output for the tarballs
#                        <base>/download/v<version>/iii-<version>-<platform>.tar.gz
#                      which is the layout of GitHub release assets. <platform> is one of
#                      linux-x64, linux-arm64, linux-x64-musl, linux-arm64-musl, darwin-x64, darwin-arm64,
#                      and each tarball contains only the `iii` executable.
#   III_INSTALL_OS     linux or darwin, instead of detecting it with uname
#   III_INSTALL_ARCH   x64 or arm64, instead of detecting it with uname
#   III_INSTALL_LIBC   glibc or musl (Linux only), instead of detecting it
#   III_SYSTEM_BIN_DIR the folder preferred when writable (default /usr/local/bin)
#
# The script never calls sudo. It downloads into a temporary folder, verifies the SHA-256
# checksum, and only then moves the binary into place, so a failed run leaves no partial file.

set -eu

DEFAULT_DOWNLOAD_BASE="https://github.com/iii-hq/iii/releases"

tmp_dir=""
staged_binary=""

cleanup() {
  if [ -n "$staged_binary" ]; then rm -f "$staged_binary"; fi
  if [ -n "$tmp_dir" ]; then rm -rf "$tmp_dir"; fi
}

fail() {
  printf 'error: %s\n' "$1" >&2
  exit 1
}

info() {
  printf '%s\n' "$1"
}

has_command() {
  command -v "$1" >/dev/null 2>&1
}

# Prints the release name of the operating system: linux or darwin.
detect_os() {
  os="${III_INSTALL_OS:-$(uname -s)}"
  case "$os" in
    linux | Linux) echo linux ;;
    darwin | Darwin) echo darwin ;;
    *) fail "unsupported operating system '$os'; prebuilt binaries exist for linux and darwin (macOS)" ;;
  esac
}

# Prints the release name of the CPU architecture: x64 or arm64.
detect_arch() {
  os="$1"
  arch="${III_INSTALL_ARCH:-$(uname -m)}"
  case "$arch" in
    x64 | x86_64 | amd64) arch=x64 ;;
    arm64 | aarch64) arch=arm64 ;;
    *) fail "unsupported architecture '$arch'; prebuilt binaries exist for x64 and arm64" ;;
  esac

  # An x64 shell under Rosetta 2 on Apple silicon still gets the native arm64 binary.
  if [ -z "${III_INSTALL_ARCH:-}" ] && [ "$os" = darwin ] && [ "$arch" = x64 ] &&
    [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    arch=arm64
  fi
  echo "$arch"
}

# Prints the C library of a Linux system: glibc or musl.
detect_libc() {
  if [ -n "${III_INSTALL_LIBC:-}" ]; then
    case "$III_INSTALL_LIBC" in
      glibc | musl) echo "$III_INSTALL_LIBC"; return ;;
      *) fail "unsupported C library '$III_INSTALL_LIBC'; set III_INSTALL_LIBC to glibc or musl" ;;
    esac
  fi

  # musl systems such as Alpine ship their loader as /lib/ld-musl-<arch>.so.1.
  for loader in /lib/ld-musl-*; do
    if [ -e "$loader" ]; then echo musl; return; fi
  done
  if ldd --version 2>&1 | grep -qi musl; then echo musl; else echo glibc; fi
}

# Picks curl or wget, setting `downloader` and the exit code it returns for an HTTP error status.
choose_downloader() {
  if has_command curl; then
    downloader=curl
    http_error_status=22
  elif has_command wget; then
    downloader=wget
    http_error_status=8
  else
    fail "neither curl nor wget is installed; install one of them and run this script again"
  fi
}

# Downloads $1 to the file $2. An HTTP error such as 404 fails with message $3, anything else
# (DNS, TLS, connection) with a network message. Both tools stay silent so only one line shows.
download() {
  status=0
  if [ "$downloader" = curl ]; then
    curl -fsL --retry 2 -o "$2" "$1" || status=$?
  else
    wget -q -O "$2" "$1" || status=$?
  fi

  if [ "$status" -eq 0 ]; then return 0; fi
  if [ "$status" -eq "$http_error_status" ]; then fail "$3"; fi
  fail "could not download '$1' ($downloader exit code $status); check your network and run this script again"
}

# Prints the SHA-256 of file $1 in lower-case hex.
sha256_of() {
  if has_command sha256sum; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif has_command shasum; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    fail "neither sha256sum nor shasum is installed; install coreutils or perl and run this script again"
  fi
}

# Strips a leading "v" and checks that $1 looks like a version, so it is safe inside a URL.
normalize_version() {
  version="${1#v}"
  case "$version" in
    '' | *[!0-9A-Za-z.+-]* | [!0-9]*)
      fail "invalid version '$1'; pass a release version such as v0.2.1, or nothing for the newest"
      ;;
  esac
  echo "$version"
}

# Picks the install folder and prints it: BIN_DIR, else the system folder when writable, else ~/.local/bin.
choose_bin_dir() {
  if [ -n "${BIN_DIR:-}" ]; then
    echo "$BIN_DIR"
    return
  fi

  system_dir="${III_SYSTEM_BIN_DIR:-/usr/local/bin}"
  if [ -d "$system_dir" ] && [ -w "$system_dir" ]; then
    echo "$system_dir"
    return
  fi

  if [ -z "${HOME:-}" ]; then
    fail "HOME is not set; set BIN_DIR to the folder to install iii into"
  fi
  echo "$HOME/.local/bin"
}

# Prints the shell commands that put folder $1 on PATH for the user's login shell.
print_path_hint() {
  bin_dir="$1"
  info ""
  info "'$bin_dir' is not on your PATH. To run iii by name, add it:"
  case "$(basename "${SHELL:-sh}")" in
    fish) info "  fish_add_path '$bin_dir'" ;;
    zsh) info "  echo 'export PATH=\"$bin_dir:\$PATH\"' >> ~/.zshrc && . ~/.zshrc" ;;
    bash) info "  echo 'export PATH=\"$bin_dir:\$PATH\"' >> ~/.bashrc && . ~/.bashrc" ;;
    *) info "  export PATH=\"$bin_dir:\$PATH\"    (add this line to your shell's profile file)" ;;
  esac
}

main() {
  if [ "$#" -gt 1 ]; then
    fail "expected at most one argument, the version (for example v0.2.1), but got $#"
  fi
  requested="${1:-latest}"
  base="${III_DOWNLOAD_BASE:-$DEFAULT_DOWNLOAD_BASE}"
  base="${base%/}"

  os="$(detect_os)"
  arch="$(detect_arch "$os")"
  platform="$os-$arch"
  if [ "$os" = linux ]; then
    libc="$(detect_libc)"
    if [ "$libc" = musl ]; then platform="$platform-musl"; fi
  fi
  bin_dir="$(choose_bin_dir)"

  choose_downloader

  tmp_dir="$(mktemp -d 2>/dev/null || mktemp -d -t iii-install)" ||
    fail "could not create a temporary folder; check that TMPDIR is writable"

  if [ "$requested" = latest ]; then
    latest_url="$base/latest/download/VERSION"
    download "$latest_url" "$tmp_dir/VERSION" \
      "no newest release found at '$latest_url'; check III_DOWNLOAD_BASE or pass a version"
    requested="$(head -n 1 "$tmp_dir/VERSION" | tr -d ' \t\r\n')"
    if [ -z "$requested" ]; then
      fail "'$latest_url' is empty; pass a version such as v0.2.1 instead"
    fi
  fi
  version="$(normalize_version "$requested")"

  release_url="$base/download/v$version"
  asset="iii-$version-$platform.tar.gz"

  download "$release_url/SHA256SUMS" "$tmp_dir/SHA256SUMS" \
    "version 'v$version' not found: '$release_url/SHA256SUMS' does not exist"
  expected="$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1; exit }' "$tmp_dir/SHA256SUMS")"
  if [ -z "$expected" ]; then
    fail "release 'v$version' has no binary for platform '$platform'"
  fi

  download "$release_url/$asset" "$tmp_dir/$asset" \
    "'$release_url/$asset' does not exist although SHA256SUMS lists it; report this to the maintainers"
  actual="$(sha256_of "$tmp_dir/$asset")"
  if [ "$actual" != "$expected" ]; then
    fail "checksum mismatch for '$asset': expected $expected, got $actual; the download is corrupt, run this script again"
  fi

  mkdir "$tmp_dir/unpacked"
  tar -xzf "$tmp_dir/$asset" -C "$tmp_dir/unpacked" iii 2>/dev/null ||
    fail "archive '$asset' does not contain an 'iii' executable"
  chmod 755 "$tmp_dir/unpacked/iii"

  mkdir -p "$bin_dir" 2>/dev/null ||
    fail "could not create '$bin_dir'; choose a writable folder with BIN_DIR=..."
  if [ ! -w "$bin_dir" ]; then
    fail "'$bin_dir' is not writable; choose another folder with BIN_DIR=... (this script never uses sudo)"
  fi

  # Copy next to the target first and then rename, because a rename within one folder is atomic
  # and also replaces a binary that is running at the moment.
  staged_binary="$bin_dir/.iii.install.$$"
  cp "$tmp_dir/unpacked/iii" "$staged_binary" ||
    fail "could not write to '$bin_dir'; check free space and permissions"
  chmod 755 "$staged_binary"
  mv -f "$staged_binary" "$bin_dir/iii" ||
    fail "could not replace '$bin_dir/iii'; check its permissions"
  staged_binary=""

  info "installed iii v$version ($platform) to $bin_dir/iii"
  case ":${PATH:-}:" in
    *":$bin_dir:"* | *":${bin_dir%/}:"*) info "run 'iii --version' to check it" ;;
    *) print_path_hint "$bin_dir" ;;
  esac
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Everything runs from here, so a download cut short never executes half a script.
main "$@"
