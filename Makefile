# `make hello`: build berth and run the hello-world container (root).
# `make test`: install test dependencies and run every test (root).
# `make bench`: measure berth and a real dockerd side by side (root).

.PHONY: build hello test bench busybox clean

build:
	./hack/deps.sh
	./hack/build.sh berth

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
	rm -f berth internal/shimbin/berth-shim.bin
