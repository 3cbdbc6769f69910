# Deploy service `mailpit` of mailstack-local (rendered by mailstack).
# definition sha256: 9d204a6c6908f626c5a8521953eb58883d3d72abbeaff3080d8c6b4697f77262
set -eu
cd 'build/local/compose'
docker compose up -d --no-deps --wait 'mailpit'
