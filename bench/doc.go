// Command bench measures berth and, with --with-docker, a real dockerd
// (Debian's docker.io) side by side on this machine in one run, and
// prints a Markdown table of each figure's median (min–max) for both and
// the ratio berth/Docker. It starts both engines itself, each on a private
// socket, data root and exec root, gives both the same images, and stops
// them and removes what they made when it ends (also on Ctrl-C).
//
// Run as root from the repository, after `make build`:
//
//	go run ./bench --with-docker
//
// The table also goes to bench/RESULTS.md (--out), with the machine, the
// date and both versions.
package main
