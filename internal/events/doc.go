// Package events is the in-process pub/sub bus of Docker events: services
// publish what happened to containers and images, the API streams it to
// `events` clients with their filters. It keeps a bounded backlog so
// `--since` can replay recent events.
package events
