#!/bin/sh
# Writes /run/redis/users.acl from users.acl.in, replacing each `>@NAME` with `>` and the password in
# the Docker secret /run/secrets/NAME (first line), then runs redis-server. A missing secret or a
# password with characters an ACL line cannot hold stops the container with one line saying so.
set -euf  # -f: the ACL patterns (~banhammer:{shop}:*) must not be globbed
in=/etc/redis/users.acl.in
out=/run/redis/users.acl
tmp=$out.tmp
umask 077
: >"$tmp"
while IFS= read -r line || [ -n "$line" ]; do
  case $line in
    '#'* | '') continue ;;
  esac
  out_line=
  for word in $line; do
    case $word in
      '>@'*)
        name=${word#>@}
        file=/run/secrets/$name
        if [ ! -r "$file" ]; then
          echo "redis start.sh: secret $file is missing or unreadable (compose: secrets: $name)" >&2
          exit 78
        fi
        pw=$(head -n 1 "$file" | tr -d '\r')
        case $pw in
          '' | *[!A-Za-z0-9._~+=/-]*)
            echo "redis start.sh: the password in $file is empty or has characters other than A-Z a-z 0-9 . _ ~ + = / -" >&2
            exit 78 ;;
        esac
        if [ ${#pw} -lt 16 ]; then
          echo "redis start.sh: the password in $file is shorter than 16 characters (e.g. openssl rand -hex 24)" >&2
          exit 78
        fi
        word=">$pw" ;;
    esac
    out_line="${out_line:+$out_line }$word"
  done
  printf '%s\n' "$out_line" >>"$tmp"
done <"$in"
mv "$tmp" "$out"
exec redis-server /etc/redis/redis-replicas.conf "$@"
