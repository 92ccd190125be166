// Package schemas holds the JSON Schemas of every segflow event's data: the
// contract between producers and the pipeline. The file segflow.<topic>.<action>.json
// describes the data of the CloudEvent type of the same name; defs.json holds the
// definitions they share. The collector validates every event against them.
package schemas

import "embed"

// FS holds the schema files.
//
//go:embed *.json
var FS embed.FS
