// Package image holds the image commands (images, import, load, save,
// tag, rmi, history, pull, image inspect, image prune).
package image
