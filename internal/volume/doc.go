// Package volume is berth's volume service: named and anonymous volumes of
// the local driver, each a directory <data-root>/volumes/NAME/_data
// (or, with -o type=..., a mount made there while containers use it),
// recorded in bbolt with the containers that use them. The container
// service asks it for a volume's directory when a container is made and
// started, and gives it back when the container stops and goes; a new,
// empty volume is first filled from the image (copy-up) by CopyUp.
package volume
