package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/segflow/segflow/pkg/audience"
	"github.com/segflow/segflow/pkg/broadcast"
	"github.com/segflow/segflow/pkg/journey"
	"github.com/segflow/segflow/pkg/profile"
)

// maxBroadcastBody bounds the body of POST /v1/broadcasts.
const maxBroadcastBody = 1 << 16

// Broadcasts is a page of GET /v1/broadcasts, the newest first.
type Broadcasts struct {
	Broadcasts []broadcast.View `json:"broadcasts"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

func (s *Server) postBroadcast(w http.ResponseWriter, r *http.Request) error {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBroadcastBody+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(raw) > maxBroadcastBody {
		return badf("body: larger than %d bytes", maxBroadcastBody)
	}
	var b broadcast.Broadcast
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return &badRequest{msg: "body: " + err.Error() + `; want {"campaign": …, "audience": …, "schedule": {"kind": "now"}}`, pos: -1}
	}
	now := s.cfg.Now().UTC()
	b.CreatedAt, b.CreatedBy = now, requester(r.Context())
	bad := broadcast.Invalid{}
	if err := broadcast.Check(&b, now); err != nil && !errors.As(err, &bad) {
		return err
	}
	if _, ok := bad["campaign"]; !ok {
		if why := s.unknownTarget(b.Campaign); why != "" {
			bad["campaign"] = why
		}
	}
	if _, ok := bad["audience"]; !ok {
		// A name nobody ever had is refused now, not when the broadcast opens.
		expr, _ := audience.Parse(b.Audience)
		v, ns, err := s.view(r.Context())
		if err != nil {
			return err
		}
		if _, err := attrsOf(v, expr, ns.store.Waterfall()); err != nil {
			var br *badRequest
			if !errors.As(err, &br) {
				return err
			}
			bad["audience"] = strings.TrimPrefix(br.msg, "q: ") // attrsOf names the query parameter
		}
	}
	if len(bad) > 0 {
		return &badRequest{msg: bad.Error(), pos: -1, fields: bad}
	}
	out, err := s.broadcasts.Create(r.Context(), b)
	if errors.Is(err, broadcast.ErrExists) {
		return fmt.Errorf("%w: %w", errConflict, err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) getBroadcasts(w http.ResponseWriter, r *http.Request) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > s.cfg.MaxPage {
			return badf("limit must be 1 to %d", s.cfg.MaxPage)
		}
	}
	page, next, err := s.broadcasts.List(r.Context(), r.URL.Query().Get("cursor"), limit)
	if errors.Is(err, broadcast.ErrNotFound) {
		return badf("cursor: no such broadcast")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Broadcasts{Broadcasts: page, NextCursor: next})
	return nil
}

func (s *Server) getBroadcast(w http.ResponseWriter, r *http.Request) error {
	out, err := s.broadcasts.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, broadcast.ErrNotFound) {
		return fmt.Errorf("%w: %w", errNotFound, err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deleteBroadcast(w http.ResponseWriter, r *http.Request) error {
	out, err := s.broadcasts.Cancel(r.Context(), r.PathValue("id"), s.cfg.Now())
	switch {
	case errors.Is(err, broadcast.ErrNotFound):
		return fmt.Errorf("%w: %w", errNotFound, err)
	case errors.Is(err, broadcast.ErrFinished):
		return fmt.Errorf("%w: %w", errConflict, err)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Audiences evaluates audience expressions as GET /v1/members does — the
// same names, on the population view of the live namespace — for the
// broadcasts of the trigger service (broadcast.Audience).
type Audiences struct {
	RDB   redis.UniversalClient
	Store *profile.Store
	Views Views
}

var _ broadcast.Audience = Audiences{}

// Members returns up to limit of the customers expr selects at T with ids
// after after, in id order. An expression that no longer parses or names
// what no customer ever had is broadcast.ErrAudience.
func (a Audiences) Members(ctx context.Context, T time.Time, expr, after string, limit int) ([]string, error) {
	e, err := audience.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", broadcast.ErrAudience, err)
	}
	ns, err := profile.LiveNamespace(ctx, a.RDB, a.Store.Prefix())
	if err != nil {
		return nil, err
	}
	v, err := a.Views.Of(ctx, ns)
	if err != nil {
		return nil, fmt.Errorf("population view of %s: %w", ns, err)
	}
	attrs, err := attrsOf(v, e, a.Store.Waterfall())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", broadcast.ErrAudience, err)
	}
	page := v.Members(T, e, attrs, after, limit)
	ids := make([]string, len(page.Members))
	for i, m := range page.Members {
		ids[i] = m.ID
	}
	return ids, nil
}

// unknownTarget says why a broadcast cannot go to name — a campaign of the
// campaigns file, or journey:<name>, a journey of the journeys file whose
// entry takes broadcasts — or "" if it can.
func (s *Server) unknownTarget(name string) string {
	if j, ok := strings.CutPrefix(name, journey.CampaignPrefix); ok {
		if s.cfg.Journeys == nil {
			return fmt.Sprintf("%q: no journeys are configured", name)
		}
		if _, err := s.cfg.Journeys().Broadcastable(j); err != nil {
			return err.Error()
		}
		return ""
	}
	if s.cfg.Campaigns != nil && !slices.Contains(s.cfg.Campaigns(), name) {
		return fmt.Sprintf("%q is not a campaign of the campaigns file", name)
	}
	return ""
}
