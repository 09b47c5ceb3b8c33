# `make hello`: build berth and run the hello-world container (root).
# `make test`: install test dependencies and run every test (root).
# `make bench`: measure berth and a real dockerd side by side (root).

GO_TAGS := seccomp,netgo,osusergo
GO_LDFLAGS := -extldflags=-static

.PHONY: build hello test bench busybox clean

build:
	./hack/deps.sh
	go build -tags $(GO_TAGS) -ldflags "$(GO_LDFLAGS)" -o berth ./cmd/berth

hello: build
	./berth run --rm hello-world

test:
	./hack/test.sh

bench: build
	./hack/deps.sh bench
	go run ./bench --with-docker

busybox: build
	./hack/busybox-image.sh | ./berth import --change 'CMD ["sh"]' - busybox

clean:
	rm -f berth
