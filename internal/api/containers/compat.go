package containers

import (
	"net/http"

	"github.com/docker/docker/api/types/container"

	"github.com/berthproject/berth/internal/api/httputil"
)

// API-version quirks of these routes, and only here.

// createDefaults fills what older clients got by default: shareable IPC
// before API 1.32 (private since).
func createDefaults(r *http.Request, hc *container.HostConfig) {
	if hc.IpcMode == "" && httputil.VersionLess(httputil.Version(r), "1.32") {
		hc.IpcMode = "shareable"
	}
}

// waitCondition is the condition a wait asks for; before API 1.30 there
// were none (the parameter is ignored, as Docker does).
func waitCondition(r *http.Request) string {
	if httputil.VersionLess(httputil.Version(r), "1.30") {
		return ""
	}
	return r.FormValue("condition")
}
