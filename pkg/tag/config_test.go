package tag

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestExampleFileIsTheDefaultConfig(t *testing.T) {
	got, err := LoadConfig(filepath.Join("testdata", "tags.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("testdata/tags.yaml = %+v, want DefaultConfig() = %+v", got, want)
	}
}

func TestDefaultConfigCompiles(t *testing.T) {
	if _, err := Compile(DefaultConfig()); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    Config
		wantErr string // substring; "" for success
	}{
		{
			name: "a rule and a tier are read",
			yaml: "tags:\n  - name: vip\n    when: orders > 10\ntiers:\n  - {name: member, min_lifetime: \"0\"}\n",
			want: Config{Tags: []Rule{{Name: "vip", When: "orders > 10"}}, Tiers: []Tier{{Name: "member", MinLifetime: "0"}}},
		},
		{
			name: "a cost limit is read",
			yaml: "cost_limit: 5000\n",
			want: Config{CostLimit: 5000},
		},
		{
			name: "an empty file is the zero config",
			yaml: "",
			want: Config{},
		},
		{
			name:    "a misspelt rule field is an error",
			yaml:    "tags:\n  - name: vip\n    wen: orders > 10\n",
			wantErr: "field wen not found",
		},
		{
			name:    "an unknown top-level field is an error",
			yaml:    "tags: []\nsegments: []\n",
			wantErr: "field segments not found",
		},
		{
			name:    "a second document is an error",
			yaml:    "tags: []\n---\ntiers: []\n",
			wantErr: "more than one YAML document",
		},
		{
			name:    "malformed YAML is an error",
			yaml:    "tags: [\n",
			wantErr: "yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tags.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadConfig(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadConfig error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadConfig = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadConfigOfAMissingFileIsAnError(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadConfig of a missing file: error = %v, want not exist", err)
	}
}
