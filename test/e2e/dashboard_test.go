package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segflow/segflow/pkg/api"
	"github.com/segflow/segflow/pkg/dashboard"
	"github.com/segflow/segflow/pkg/index"
	"github.com/segflow/segflow/pkg/testenv"
	"github.com/segflow/segflow/pkg/trigger"
)

// chromium returns the path of a headless-capable Chromium: the Debian
// packages chromium and chromium-driver, or SEGFLOW_CHROMIUM set to a Chrome
// or Chromium binary. Without one the test is skipped, or fails when CI is
// set.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SEGFLOW_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but no Chromium is installed (apt-get install chromium chromium-driver)")
	}
	t.Skip("no Chromium installed (apt-get install chromium chromium-driver)")
	return ""
}

// artifactDir is where tests keep files for people to look at:
// SEGFLOW_ARTIFACTS, or segflow-artifacts in the temporary directory.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("SEGFLOW_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "segflow-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keepScreenshot keeps a full-page screenshot of the page open in ctx as
// name in the artifact directory, and logs where.
func keepScreenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard screenshot: %s", shot)
}

const dashToken = "e2e-dashboard-token"

// serveDashboard serves the read API with cfg over the pipeline's store and
// the index ix, with the token dashToken, and the dashboard, on a server of
// their own until the test ends.
func (p *pipeline) serveDashboard(t *testing.T, cfg api.Config, ix *index.Index) *httptest.Server {
	t.Helper()
	cfg.Tokens = map[string]api.Holder{dashToken: {Name: "e2e"}}
	a, err := api.New(cfg, p.rdb, p.store, ix, trigger.NewEngine(nil, p.rdb, p.store, nil), p.writer, p.log)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	dashboard.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// runSegflow builds the segflow binary and runs `segflow run` in embedded
// mode (embedded Kafka broker and Redis) with the clock at T, until the test
// ends. It returns the base URL.
func runSegflow(t *testing.T, T time.Time, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "segflow")
	build := exec.Command("go", "build", "-o", bin, "github.com/segflow/segflow/services/segflow")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build segflow: %v\n%s", err, out)
	}
	addr := testenv.FreeAddr(t)
	logs, err := os.Create(filepath.Join(dir, "segflow.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "--http-addr", addr, "--embedded-kafka-addr", "127.0.0.1:0", "--embedded-redis-addr", "127.0.0.1:0",
		"--now", T.Format(time.RFC3339), "--write-keys", "pos=" + writeKey, "--api-tokens", "e2e=" + dashToken, "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("segflow log tail:\n%s", tail(string(b), 3000))
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("segflow never became ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counts is what the API reports and the dashboard draws.
type counts struct {
	Buyers   int              `json:"buyers"`
	Segments map[string]int   `json:"segments"`
	Grid     [5][5]int        `json:"grid"`
	Stages   map[string]int64 `json:"stages"`
}

func apiCounts(t *testing.T, base string) (counts, error) {
	req, _ := http.NewRequest("GET", base+"/v1/counts", nil)
	req.Header.Set("Authorization", "Bearer "+dashToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return counts{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var c counts
	if resp.StatusCode != 200 {
		return c, fmt.Errorf("counts: %d %s", resp.StatusCode, b)
	}
	return c, json.Unmarshal(b, &c)
}

// TestDashboardChartsShowTheCDNOWSegments streams the CDNOW sample through
// `segflow run` (embedded mode), opens the dashboard in headless Chromium and
// checks that the segment bars, the R×F heat map and the NES stage bars show
// the counts of the independent reference computation. The screenshot is
// kept in the artifact directory.
func TestDashboardChartsShowTheCDNOWSegments(t *testing.T) {
	browser := chromium(t)
	if testing.Short() {
		t.Skip("builds segflow and runs a browser")
	}
	orders := loadCDNOW(t, dataPath(t, "cdnow/CDNOW_sample.txt"))
	T := time.Date(1998, 7, 1, 0, 0, 0, 0, time.UTC)
	ref := referenceProfiles(orders, T, 365*day)
	var want counts
	want.Segments, want.Stages = map[string]int{}, map[string]int64{}
	for _, p := range ref {
		want.Stages[p.Stage]++
		if p.Segment != "" {
			want.Buyers++
			want.Segments[p.Segment]++
			want.Grid[p.RScore-1][p.FScore-1]++
		}
	}

	base := runSegflow(t, T)
	(&pipeline{url: base}).send(t, orders)
	// Wait until the pipeline has applied everything: the API's counts stop
	// short of the reference until then.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got, err := apiCounts(t, base)
		if err == nil && got.Buyers == want.Buyers && got.Grid == want.Grid && fmt.Sprint(got.Segments) == fmt.Sprint(want.Segments) &&
			got.Stages["S3"] == want.Stages["S3"] && got.Stages["N"] == want.Stages["N"] && got.Stages["E0"] == want.Stages["E0"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API counts %+v (%v)\nnever reached the reference %+v", got, err, want)
		}
		time.Sleep(250 * time.Millisecond)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1280, 1500))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	type drawn struct {
		Key   string `json:"key"`
		Count string `json:"count"`
		Label string `json:"label"`
	}
	read := func(chart string) []drawn {
		t.Helper()
		out, err := chromedp.Run(ctx, chromedp.Evaluate[[]drawn](fmt.Sprintf(`[...document.querySelectorAll('svg[data-chart=%q] g[data-key]')].map(g => ({
			key: g.dataset.key, count: g.dataset.count, label: g.querySelector('text.value').textContent}))`, chart)))
		if err != nil {
			t.Fatalf("read the %s chart: %v", chart, err)
		}
		return out
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/dashboard/#token="+dashToken), chromedp.WaitVisible(`body[data-loaded="true"]`)); err != nil {
		t.Fatalf("browser: %v", err)
	}
	segs, grid, stages := read("segments"), read("grid"), read("stages")
	keepScreenshot(ctx, t, "dashboard-cdnow.png")

	check := func(chart string, got []drawn, want map[string]int) {
		if len(got) != len(want) {
			t.Errorf("%s chart draws %d bars, want %d", chart, len(got), len(want))
		}
		for _, d := range got {
			w := strconv.Itoa(want[d.Key])
			if d.Count != w || d.Label != w {
				t.Errorf("%s chart: %s drawn as %s (label %q), reference %s", chart, d.Key, d.Count, d.Label, w)
			}
		}
	}
	check("segments", segs, want.Segments)
	cells := map[string]int{}
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			cells[fmt.Sprintf("r%df%d", r, f)] = want.Grid[r-1][f-1]
		}
	}
	check("grid", grid, cells)
	st := map[string]int{"prospect": 0}
	for k, v := range want.Stages {
		st[k] = int(v)
	}
	for _, k := range []string{"N", "E0", "S1", "S2", "S3"} {
		st[k] += 0
	}
	check("stages", stages, st)
	t.Logf("%d buyers; segments %v", want.Buyers, want.Segments)
}
