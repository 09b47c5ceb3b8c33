// Package cli is the kit every berth command shares: the API client (with
// -H/BERTH_HOST, API version negotiation and, for root on the default
// socket, starting a daemon in the background when none answers), the
// output helpers (--format Go templates with Docker's helpers, aligned
// tables) and Docker's exit codes and error texts. It talks to the engine
// only through the Engine API client, never to stores.
package cli
