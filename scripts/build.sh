#!/usr/bin/env bash
# `npm run build`: the compiled service in dist/ (tsc, incremental), with the files it reads at run
# time beside it: the MJML templates (src/render/compile.ts), the console's assets, and package.json
# (the version the API document names).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.build.json
rm -rf dist/templates dist/src/console/assets
cp -r templates dist/templates
cp -r src/console/assets dist/src/console/assets
cp package.json dist/package.json
