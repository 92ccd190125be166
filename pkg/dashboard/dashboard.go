// Package dashboard serves the marketing dashboard: one HTML page and a small
// script that fetch the read API (pkg/api) and draw its figures as inline SVG
// charts — segment sizes, the RFM R×F grid as a heat map, the NES
// distribution over time, campaign and journey results with lift, and, when
// a model is fitted, customers by P(alive) and predicted beside historical
// CLV by segment. Every asset is embedded in the binary, so the page works
// without internet access.
//
// The page asks for an API token in a form and keeps it in the browser tab
// until the tab closes; a token may also be given once as the URL fragment
// (/dashboard/#token=...), which is never sent to the server.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Register serves the dashboard at /dashboard/.
func Register(mux *http.ServeMux) {
	sub, _ := fs.Sub(static, "static")
	files := http.StripPrefix("/dashboard/", http.FileServer(http.FS(sub)))
	mux.Handle("GET /dashboard/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET /dashboard", http.RedirectHandler("/dashboard/", http.StatusMovedPermanently))
}
