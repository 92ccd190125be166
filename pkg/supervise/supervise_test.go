package supervise_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/supervise"
)

// blocking is a component that runs until it is stopped and records that it
// was.
func blocking(stopped chan<- struct{}) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	}
}

func TestAFailingComponentStopsTheOthersAndIsReturned(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	var g supervise.Group
	g.Add("runs", blocking(stopped))
	g.Add("fails", func(context.Context) error { return boom })

	err := g.Run(context.Background(), zap.NewNop())
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the failure %v", err, boom)
	}
	if got := err.Error(); got != "fails: boom" {
		t.Errorf("the error does not name its component: %q", got)
	}
	select {
	case <-stopped:
	default:
		t.Error("Run returned before the other component stopped")
	}
}

func TestAComponentThatStopsOnItsOwnIsAFailure(t *testing.T) {
	stopped := make(chan struct{})
	var g supervise.Group
	g.Add("runs", blocking(stopped))
	g.Add("returns", func(context.Context) error { return nil })

	if err := g.Run(context.Background(), zap.NewNop()); !errors.Is(err, supervise.ErrStopped) {
		t.Fatalf("Run returned %v, want ErrStopped", err)
	}
	<-stopped
}

func TestCancellingTheContextStopsEveryComponentWithoutError(t *testing.T) {
	a, b := make(chan struct{}), make(chan struct{})
	var g supervise.Group
	g.Add("a", blocking(a))
	g.Add("b", blocking(b))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx, zap.NewNop()) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after a shutdown, want nil", err)
	}
	<-a
	<-b
}

func TestAServerThatCannotListenFails(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	srv := &http.Server{Addr: l.Addr().String(), ReadHeaderTimeout: time.Second}
	if err := supervise.Server(srv, time.Second)(context.Background()); err == nil {
		t.Fatal("a server on a taken address returned nil")
	}
}

func TestAServerShutsDownWhenCancelled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- supervise.Server(srv, time.Second)(ctx) }()
	for {
		resp, err := http.Get("http://" + addr)
		if err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("a cancelled server returned %v, want nil", err)
	}
	if _, err := http.Get("http://" + addr); err == nil {
		t.Error("the server still answers after shutdown")
	}
}
