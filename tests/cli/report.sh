#!/usr/bin/env bash
# Usage: report.sh SPIRE [EXAMPLE_CONFIG]. What a person opens after a run: report.html is one
# self-contained page whose every <img> is a PNG inside the page (data: URI) that headless
# Chromium loads and decodes, and whose screenshot is not blank; orientations.csv and .h5
# carry the file's image index (data.first) and the scores; summary.json says the version,
# the command line and data.first; simulate warns about sparse images like reconstruct;
# the example config loads. Exit 77 (ctest: skipped) after the other checks when chromium
# is not installed (scripts/setup installs it). Fails on the first unexpected result.
set -euo pipefail
spire=$1
example=${2:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
check() { if ! eval "$1"; then echo "FAILED: $2"; exit 1; fi; }

# --- simulate: the sparse-image warning, by reconstruct's rule -----------------------------
msg=$("$spire" simulate --n-images 4 --detector-pixels 24 --photons 1e12 --beam-radius 0.5e-6 --noise poisson \
  --volume-size 0 --quiet --out "$dir/sparse.h5" 2>&1)
check "grep -q 'that random starts were measured to need with 4 images' <<< \"\$msg\" && grep -q 'Signal and convergence' <<< \"\$msg\"" \
  "simulate warns about too few photons per image: '$msg'"
readme=$(dirname "$0")/../../README.md
check "grep -q '^## Signal and convergence' '$readme'" "the README section the warning names exists"

# --- a tiny run on images 5.. of the file -------------------------------------------------
"$spire" simulate --n-images 80 --detector-pixels 32 --photons 1e15 --beam-radius 0.1e-6 --noise poisson \
  --volume-size 15 --quiet --out "$dir/data.h5"
"$spire" reconstruct "$dir/data.h5" grid.n=15 orientations.references=100 generations.max=2 data.first=5 \
  runtime.fft_planning=estimate phasing.loops=2 merging.cg_iterations=15 phasing.final_average=2 \
  '--reference' "$dir/data_model.mrc" --quiet --out "$dir/r" 2> "$dir/stderr.txt"
r=$dir/r
for f in report.html orientations.csv orientations.h5 summary.json fsc.png density_slices.png; do
  check "[ -s '$r/$f' ]" "reconstruct wrote $f"
done
check "[ \"\$(head -1 '$r/orientations.csv')\" = 'image_index,w,x,y,z,euler_z1_deg,euler_y_deg,euler_z2_deg,score' ]" \
  "orientations.csv header: $(head -1 "$r/orientations.csv")"
check "[ \"\$(sed -n 2p '$r/orientations.csv' | cut -d, -f1)\" = 5 ] && [ \"\$(tail -1 '$r/orientations.csv' | cut -d, -f1)\" = 79 ]" \
  "orientations.csv image_index runs 5..79 (data.first = 5)"
check "! cut -d, -f9 '$r/orientations.csv' | grep -q nan" "every image has a score after a matching generation"
check "python3 -c \"import json; s = json.load(open('$r/summary.json')); assert s['data_first'] == 5 and s['images'] == 75 and s['photons_per_image_std'] > 0; assert s['spire_version'] and 'reconstruct' in s['command_line']; assert 'ZYZ' in s['orientations_csv']\"" \
  "summary.json: version, command line, data.first, the csv's columns"
if python3 -c "import h5py" 2> /dev/null; then
  check "python3 -c \"import h5py; f = h5py.File('$r/orientations.h5'); assert list(f['image_index'][:3]) == [5, 6, 7]; assert f['score'].shape == (75,)\"" \
    "orientations.h5 image_index starts at data.first"
fi

# --- report.html: self-contained, every image a PNG inside the page ---------------------
cat > "$dir/check_report.py" << 'EOF'
import base64, re, struct, sys, zlib
html = open(sys.argv[1], encoding="utf-8").read()
want = int(sys.argv[2])
# Nothing fetched from elsewhere: no external stylesheet, script, font or image.
assert not re.search(r"<(link|script)\b", html), "external stylesheet or script"
assert not re.search(r"url\(", html), "a url() in the style"
srcs = re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', html)
assert len(srcs) == want, f"{len(srcs)} images in the page, {want} PNG plots in the folder"
def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, size, end = 8, b"", None, False
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0], "bad CRC"
        if kind == b"IHDR": size = struct.unpack(">II", body[:8])
        if kind == b"IDAT": idat += body
        if kind == b"IEND": end = True
        pos += 12 + n
    assert size and end and zlib.decompress(idat), "no IHDR, IEND or image data"
    return size
for s in srcs:
    assert s.startswith("data:image/png;base64,"), f"img src is not an embedded PNG: {s[:60]}"
    w, h = png_size(base64.b64decode(s.split(",", 1)[1], validate=True))
    assert w > 10 and h > 10, f"a {w}x{h} image"
for href in re.findall(r'href="([^"]*)"', html):
    assert not re.match(r"[a-z]+:", href) and not href.startswith("/"), f"link not relative: {href}"
print(f"{len(srcs)} embedded PNGs")
EOF
plots=0
for p in fsc convergence density_slices intensity_slices coverage; do [ -f "$r/$p.png" ] && plots=$((plots + 1)); done
check "python3 '$dir/check_report.py' '$r/report.html' $plots" "report.html embeds every plot as a valid PNG"
check "grep -q 'data.first' '$r/report.html' && grep -q '<td><code>5</code></td>' '$r/report.html'" \
  "the report lists data.first = 5 among the settings changed from the defaults"

# Outside strings are escaped: a warning and a path with markup in them.
mkdir -p "$dir/a<b>&c"
cp "$dir/data.h5" "$dir/a<b>&c/data.h5"
"$spire" reconstruct "$dir/a<b>&c/data.h5" grid.n=15 orientations.oracle=true generations.max=1 --reference none \
  runtime.fft_planning=estimate phasing.loops=2 merging.cg_iterations=15 phasing.final_average=2 \
  output.half_maps=false --quiet --out "$dir/a<b>&c/r" 2> /dev/null
check "grep -q 'a&lt;b&gt;&amp;c' '$dir/a<b>&c/r/report.html' && ! grep -q 'a<b>' '$dir/a<b>&c/r/report.html'" \
  "paths are HTML-escaped in the report"

# --- the example config loads ---------------------------------------------------------------
if [ -n "$example" ]; then
  check "'$spire' reconstruct --config '$example' --print-config > '$dir/example.toml'" "$example loads"
  check "grep -q '^n = ' '$dir/example.toml'" "--print-config with --config prints the settings in effect"
fi

# --- headless Chromium: the page loads, every image decodes, the screenshot is not blank ---
chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$chromium" ]; then
  echo "SKIPPED: chromium is not installed (scripts/setup installs it): the page was not rendered"
  exit 77
fi
export HOME=$dir/home
mkdir -p "$HOME"
browse() { timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --user-data-dir="$dir/profile" \
  --hide-scrollbars --virtual-time-budget=10000 "$@" 2> "$dir/chromium.log"; }
# A copy of the page with a script that marks, once loaded, whether every image decoded.
probe='<script>addEventListener("load", () => { const imgs = [...document.images]; const bad = imgs.filter(i => !i.complete || i.naturalWidth === 0); document.body.insertAdjacentHTML("beforeend", `<p id="probe">IMAGES ${imgs.length} BROKEN ${bad.length}</p>`); });</script>'
render_check() {  # render_check PAGE: prints "IMAGES n BROKEN m"
  sed "s#</body>#$probe</body>#" "$1" > "$dir/probe.html"
  browse --dump-dom "file://$dir/probe.html" | grep -o 'IMAGES [0-9]* BROKEN [0-9]*' || echo "NO PROBE"
}
result=$(render_check "$r/report.html")
check "[ '$result' = 'IMAGES $plots BROKEN 0' ]" "Chromium loads report.html with $plots images, all decoded: '$result'"
# The probe itself catches a missing image.
sed 's#src="data:image/png;base64,[^"]*"#src="missing.png"#' "$r/report.html" > "$dir/broken.html"
result=$(render_check "$dir/broken.html")
check "[ '$result' = 'IMAGES $plots BROKEN $plots' ]" "the probe sees missing images: '$result'"

browse --window-size=900,1200 --screenshot="$dir/shot.png" "file://$r/report.html" > /dev/null
cat > "$dir/check_shot.py" << 'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IHDR": w, h, depth, colour = struct.unpack(">IIBB", data[pos + 8:pos + 18])
    if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
assert depth == 8 and colour in (2, 6), f"bit depth {depth}, colour type {colour}"
bpp = 3 if colour == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, ink = bytearray(stride), set(), 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours.add(px)
        ink += px != b"\xff\xff\xff"
    prev = line
share = ink / (w * h)
assert len(colours) > 20 and share > 0.02, f"blank screenshot: {len(colours)} colours, {share:.3f} not white"
print(f"{w}x{h}, {len(colours)} colours, {share:.2f} not white")
EOF
check "python3 '$dir/check_shot.py' '$dir/shot.png'" "the rendered report is not blank"
echo "1 passed, 0 failed"
