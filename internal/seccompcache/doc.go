// Package seccompcache spares each container start the compiling of its
// seccomp filter. libcontainer's init builds the filter with libseccomp
// every time (~10 ms of the start on the machine berth is measured on,
// for Docker's default profile); here the shim's creator compiles it once
// per profile, with libcontainer's own code, keeps the program in the
// exec root, and hands it to the init as its first extra file, which the
// init reads (Adopt) before libcontainer.Init. libcontainer's InitSeccomp
// then loads it instead of compiling, when its config is the one the
// program was compiled from.
//
// That hook is not in runc: the shim program is built against a copy of
// runc with a small patch (_runc/, applied by hack/runc-overlay.sh, build
// tag seccompcache). Built without it, Open hands over nothing and the
// init compiles the filter as runc does.
package seccompcache
