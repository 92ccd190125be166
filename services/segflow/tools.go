package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/segflow/segflow/pkg/importer"
	"github.com/segflow/segflow/pkg/stream"
)

// errDiffers is returned by a command whose answer is "no": verify found
// differences. main exits non-zero without printing it again.
var errDiffers = errors.New("differences found")

// connect returns the Redis client and Kafka brokers of an engineer's
// command, which always works on a running deployment, never an embedded one.
func connect(cfg *config) (*redis.Client, []string, error) {
	if cfg.KafkaBrokers == "" || cfg.RedisAddr == "" {
		return nil, nil, errors.New("--kafka-brokers and --redis-addr are required (SEGFLOW_KAFKA_BROKERS, SEGFLOW_REDIS_ADDR)")
	}
	return redis.NewClient(&redis.Options{Addr: cfg.RedisAddr, Password: cfg.RedisPassword}), cfg.brokers(), nil
}

// importOrders runs `segflow import orders FILE`.
func importOrders(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "orders" {
		return errors.New("usage: segflow import orders [flags] FILE")
	}
	cfg, err := parseConfig("import", args[1:])
	if err != nil {
		return err
	}
	if cfg.set.NArg() != 1 {
		return errors.New("usage: segflow import orders [flags] FILE")
	}
	path := cfg.set.Arg(0)
	format := cfg.ImportFormat
	if format == "" {
		format = importer.JSONLines
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			format = importer.CSV
		}
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return fmt.Errorf("--time-zone: %w", err)
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // nothing to do about a failed flush of stderr
	rdb, brokers, err := connect(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := ensureTopics(ctx, brokers, cfg); err != nil {
		return err
	}
	w := stream.NewWriter(brokers, cfg.WriteTimeout)
	defer w.Close()
	im, err := importer.New(importer.Config{Source: cfg.ImportSource, Currency: cfg.Currency, Location: loc}, w, rdb)
	if err != nil {
		return err
	}
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	bar := newProgress(stderr, log.Named("import"), size, "bytes")
	counted := &countingReader{r: f}
	im.Progress = func(int) { bar.set(counted.n) }
	sum, err := im.Import(ctx, counted, format)
	bar.finish()
	for _, re := range sum.Errors {
		fmt.Fprintf(stdout, "%s:%v\n", path, re)
	}
	fmt.Fprintf(stdout, "%s: %v\n", path, sum)
	log.Info("import done", zap.Int("rows", sum.Rows), zap.Int("written", sum.Written), zap.Int("skipped", sum.Skipped), zap.Int("errors", len(sum.Errors)))
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
