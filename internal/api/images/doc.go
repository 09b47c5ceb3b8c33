// Package images serves /images/...: list, inspect, history, tag, remove,
// prune, import and pull (POST /images/create), load and save. Image names
// may hold "/" and ":", so the per-image routes are dispatched by suffix.
package images
