# Sourced by the decode bench scripts: sets `root` (the repository) and `files` (the script's
# arguments, or shared/data/cars-sample/*.jpg when there are none).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  for data in "${CARCLASS_SHARED_DATA:-}" "$root/../shared/data" /work/shared/data; do
    if [ -n "$data" ] && [ -d "$data/cars-sample" ]; then files=("$data"/cars-sample/*.jpg); break; fi
  done
fi
