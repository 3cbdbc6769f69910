# shellcheck shell=bash
# Shared by mailstack-backup, mailstack-restore and mailstack-backup-status:
# reading the config, parsing sources, dumping databases, writing markers.
#
# The config (/etc/mailstack/backup.conf, rendered by Pulumi) is bash: scalars
# plus BACKUP_SOURCES, one string per source:
#   "<kind> <name> <target> [client prefix... | excluded path...]"
# kind     postgres | mariadb | sqlite | files
# name     [a-z0-9-]+, unique; names the dump inside the snapshot
# target   database name (postgres, mariadb) or absolute path (sqlite, files)
# prefix   postgres, mariadb: words that run the database's client tools: the
#          tool name and its arguments are appended, e.g. `docker compose -p
#          mailstack exec -T -e PGUSER=app postgres` on a server or `env
#          PGHOST=/tmp/pg` in tests. Split on whitespace, no quoting.
# excluded files: paths under target left out of the copy and kept in place by
#          a restore (a SQLite database that has its own sqlite source).

MANIFEST_NAME=mailstack-backup.manifest

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# load_config FILE: source the config, check it and export restic's environment.
load_config() {
  local file=$1
  [[ -r $file ]] || die "cannot read config file $file"
  # shellcheck source=/dev/null
  source "$file"
  local var
  for var in RESTIC_REPOSITORY RESTIC_PASSWORD_FILE BACKUP_HOSTNAME BACKUP_STATE_DIR \
    BACKUP_METRICS_DIR BACKUP_STAGING_DIR BACKUP_RESTORE_DIR BACKUP_LOCK_FILE \
    BACKUP_MAX_AGE_HOURS; do
    [[ -n ${!var:-} ]] || die "$file: $var is not set"
  done
  BACKUP_SOURCES=("${BACKUP_SOURCES[@]+"${BACKUP_SOURCES[@]}"}")
  export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
  load_credentials "${BACKUP_CREDENTIALS_FILE:-}"
  check_sources
}

# load_credentials FILE: export the object store's keys (AWS_ACCESS_KEY_ID, ...)
# from a root-only file, so they never appear on a command line.
load_credentials() {
  local file=$1
  [[ -n $file ]] || return 0
  [[ -r $file ]] || die "cannot read credentials file $file"
  set -a
  # shellcheck source=/dev/null
  source "$file"
  set +a
}

# Sources are parsed once here, so a typo fails before anything runs.
check_sources() {
  local entry kind name target excluded seen=" "
  local -a words
  for entry in "${BACKUP_SOURCES[@]}"; do
    read -r kind name target _ <<<"$entry"
    [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "source '$entry': bad name '$name'"
    [[ $seen != *" $name "* ]] || die "source name '$name' is used twice"
    seen+="$name "
    case $kind in
      postgres | mariadb)
        [[ $target =~ ^[A-Za-z0-9_]+$ ]] || die "source '$name': bad database name '$target'"
        ;;
      sqlite)
        [[ $target == /* ]] || die "source '$name': '$target' is not an absolute path"
        ;;
      files)
        [[ $target == /* ]] || die "source '$name': '$target' is not an absolute path"
        read -r -a words <<<"$entry"
        for excluded in "${words[@]:3}"; do
          [[ $excluded == "$target"/* ]] || die "source '$name': excluded '$excluded' is not under $target"
        done
        ;;
      *) die "source '$entry': unknown kind '$kind' (postgres, mariadb, sqlite, files)" ;;
    esac
  done
}

# dump_file KIND NAME: file name of a source's dump inside the staging dir.
dump_file() {
  case $1 in
    postgres) printf '%s.pgdump' "$2" ;;
    mariadb) printf '%s.sql' "$2" ;;
    sqlite) printf '%s.sqlite' "$2" ;;
  esac
}

# PG_DUMP_COMPRESS: pg_dump's --compress level; unset, its default. (The safety
# snapshot of a restore sets 0: see mailstack-restore.)
dump_postgres() {
  local db=$1 out=$2
  shift 2
  "$@" pg_dump --format=custom ${PG_DUMP_COMPRESS:+"--compress=$PG_DUMP_COMPRESS"} \
    --no-password --dbname="$db" >"$out"
  # The archive's table of contents must read back, or the dump is broken.
  "$@" pg_restore --list <"$out" >/dev/null
}

dump_mariadb() {
  local db=$1 out=$2
  shift 2
  # --single-transaction: one consistent InnoDB snapshot without locking writers.
  "$@" mariadb-dump --single-transaction --routines --triggers --events --hex-blob \
    --default-character-set=utf8mb4 "$db" >"$out"
  # mariadb-dump writes this line last; without it the dump was cut short.
  tail -n 1 "$out" | grep -q '^-- Dump completed' || die "mariadb dump of $db is incomplete"
}

dump_sqlite() {
  local path=$1 out=$2
  [[ -f $path ]] || die "sqlite database $path does not exist"
  # VACUUM INTO copies inside one read transaction: a consistent snapshot while
  # the app writes. (.backup's online backup API restarts whenever another
  # process writes, so under a steady writer it never finishes.)
  rm -f "$out"
  sqlite3 "$path" ".timeout 60000" "VACUUM INTO '${out//\'/\'\'}'"
  [[ $(sqlite3 "$out" "PRAGMA integrity_check") == ok ]] || die "sqlite copy of $path fails integrity_check"
}

# stage_sources require-all|skip-missing: dump every database into
# BACKUP_STAGING_DIR, write the manifest (checksums, file volume paths) and set
# BACKUP_PATHS to what restic backs up and BACKUP_EXCLUDES to what it leaves
# out. skip-missing (the safety snapshot before a restore onto a fresh host)
# skips SQLite files and file volumes that do not exist yet; the scheduled job
# requires all.
stage_sources() {
  local staging=$BACKUP_STAGING_DIR entry kind name target file prefix_words
  local mode=$1
  local -a prefix
  BACKUP_PATHS=("$staging")
  BACKUP_EXCLUDES=()
  rm -rf "$staging"
  mkdir -p "$staging"
  chmod 0700 "$staging"
  {
    printf '# mailstack backup manifest v1: kind name dump-or-path sha256\n'
    printf 'created %s host %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$BACKUP_HOSTNAME"
  } >"$staging/$MANIFEST_NAME.partial"
  for entry in "${BACKUP_SOURCES[@]}"; do
    read -r kind name target prefix_words <<<"$entry"
    read -r -a prefix <<<"${prefix_words:-}"
    if [[ $mode == skip-missing && $kind =~ ^(sqlite|files)$ && ! -e $target ]]; then
      log "$kind source '$name': $target does not exist yet; nothing to keep"
      continue
    fi
    if [[ $kind == files ]]; then
      [[ -d $target ]] || die "file volume $target of source '$name' does not exist"
      BACKUP_PATHS+=("$target")
      # A files source's trailing words are the paths it leaves out.
      BACKUP_EXCLUDES+=("${prefix[@]}")
      printf 'files %s %s -\n' "$name" "$target" >>"$staging/$MANIFEST_NAME.partial"
      continue
    fi
    file=$(dump_file "$kind" "$name")
    log "dumping $kind source '$name'"
    case $kind in
      postgres) dump_postgres "$target" "$staging/$file" "${prefix[@]}" ;;
      mariadb) dump_mariadb "$target" "$staging/$file" "${prefix[@]}" ;;
      sqlite) dump_sqlite "$target" "$staging/$file" ;;
    esac
    printf '%s %s %s %s\n' "$kind" "$name" "$file" \
      "$(sha256sum "$staging/$file" | cut -d' ' -f1)" >>"$staging/$MANIFEST_NAME.partial"
  done
  mv "$staging/$MANIFEST_NAME.partial" "$staging/$MANIFEST_NAME"
}

# restic_backup TAG PATH...: back up, leaving out BACKUP_EXCLUDES (from
# stage_sources); set SNAPSHOT_ID to the new snapshot.
restic_backup() {
  local tag=$1 out path
  local -a excludes=()
  shift
  for path in "${BACKUP_EXCLUDES[@]}"; do
    excludes+=(--exclude "$path")
  done
  out=$(restic backup --host "$BACKUP_HOSTNAME" --tag "$tag" "${excludes[@]}" "$@")
  printf '%s\n' "$out" >&2
  SNAPSHOT_ID=$(sed -n 's/^snapshot \([0-9a-f]*\) saved$/\1/p' <<<"$out")
  [[ -n $SNAPSHOT_ID ]] || die "restic did not report a saved snapshot"
}

# write_atomic FILE: stdin into FILE through a temporary file and a rename,
# so readers (the status check, node_exporter) never see half a file. FILE is
# 0644 in a 0755 directory, set explicitly: the units' UMask=0077 would make
# both root-only, and a metrics collector is not root.
write_atomic() {
  local file=$1 tmp
  install -d -m 0755 "$(dirname "$file")"
  tmp=$(mktemp "$file.XXXXXX")
  if ! { cat >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$file"; }; then
    rm -f "$tmp"
    return 1
  fi
}

# take_lock: one backup, check or restore at a time on this host.
take_lock() {
  mkdir -p "$(dirname "$BACKUP_LOCK_FILE")"
  exec 9>"$BACKUP_LOCK_FILE"
  flock -w "${BACKUP_LOCK_WAIT_SECONDS:-3600}" 9 || die "another backup or restore holds $BACKUP_LOCK_FILE"
}
