# The source tree keeps its floors (scripts/house.py): no room includes a room a floor up, and no
# code outside src/cli/ parses the command line. A planted upward include is caught.
source "$(dirname "$0")/lib/common.sh"
python3 "$REPO/scripts/house.py" "$REPO"
# The checker itself: a copy of two rooms with an arrow planted from io/ up to models/.
mkdir -p "$WORK/tree/src/io" "$WORK/tree/src/models"
printf '#include "models/student.h"\n' >"$WORK/tree/src/io/bad.cpp"
printf '#include "io/file_io.h"\n' >"$WORK/tree/src/models/good.cpp"
if python3 "$REPO/scripts/house.py" "$WORK/tree" >"$WORK/out"; then
  echo "FAIL: the planted arrow was not found" >&2
  exit 1
fi
grep -q "src/io/bad.cpp: io includes models/, a floor up" "$WORK/out"
! grep -q "good.cpp" "$WORK/out"
echo "house: ok"
