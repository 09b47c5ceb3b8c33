// Package api is the Engine API HTTP server: it listens on the unix
// socket (mode 0660), strips and checks the /v1.NN version prefix, puts
// Docker's headers on every response, and mounts the per-resource routers
// (system, containers, images). Everything HTTP lives here and below;
// the services it calls know nothing of it.
package api
