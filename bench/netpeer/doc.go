// Command netpeer is the bench's network peer, run inside a container of
// each engine: on port 9000 it reads every connection to its end and then
// closes it (the throughput rows), on port 9001 it writes one byte to
// each connection and closes it (the connections-per-second row).
package main
