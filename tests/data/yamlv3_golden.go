// Regenerates yamlv3_golden.json from real gopkg.in/yaml.v3 (the library the Go ticketflow uses):
//   GO111MODULE=off GOPATH=/usr/share/gocode go run yamlv3_golden.go < inputs.jsonl > yamlv3_golden.json
// where inputs.jsonl holds one JSON string per line (the "value" fields of the JSON file).
// Needs Debian packages golang-go and golang-gopkg-yaml.v3-dev; the tests only read the JSON.

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"gopkg.in/yaml.v3"
	"bytes"
)

type T struct {
	Priority    int      `yaml:"priority"`
	Description string   `yaml:"description"`
	Reason      string   `yaml:"closure_reason,omitempty"`
	Related     []string `yaml:"related,omitempty"`
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	out := []map[string]string{}
	for sc.Scan() {
		var s string
		json.Unmarshal(sc.Bytes(), &s)
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(0)
		enc.Encode(T{Priority: 2, Description: s, Reason: s, Related: []string{s}})
		out = append(out, map[string]string{"value": s, "yaml": buf.String()})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
}
