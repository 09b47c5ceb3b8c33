// Package inactive serves the routes of features berth does not have (yet)
// the way a Docker engine without them answers, so that clients which
// probe or list first work: plugins (none), swarm (this node is not a
// manager), and, until the networking and volumes services land, the three
// default networks and an empty volume list. Anything that would create
// or change such an object is refused with 501 and a message naming it:
// never accepted and ignored.
package inactive
