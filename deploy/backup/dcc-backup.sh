#!/usr/bin/env bash
# Nightly backup of a dcc site: both databases (dcc: documents, signatures, outbox, audit chain — the
# documents' CDA and PDF bytes are stored IN the dcc database; prefect: flow-run history) with pg_dump's
# custom format, plus /var/lib/dcc (signing material of a PKCS#12 site, Prefect home). Keeps 14 days.
# Run by dcc-backup.timer as root (pg_dump runs as the postgres user); restore drill: deploy/README.md "Backups".
set -euo pipefail
dest=${DCC_BACKUP_DIR:-/var/backups/dcc}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
umask 077
mkdir -p "$dest/$stamp"
for db in dcc prefect; do
  runuser -u postgres -- pg_dump --format=custom --no-owner "$db" > "$dest/$stamp/$db.dump"
done
tar --create --gzip --file="$dest/$stamp/var-lib-dcc.tar.gz" --directory=/var/lib dcc
(cd "$dest/$stamp" && sha256sum ./* > SHA256SUMS)
find "$dest" -mindepth 1 -maxdepth 1 -type d -mtime +14 -exec rm -rf {} +
echo "backup written: $dest/$stamp"
