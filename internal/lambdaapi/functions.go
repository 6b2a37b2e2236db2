package lambdaapi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strconv"

	"github.com/gureum/gureum/internal/registry"
)

// functionConfiguration is Lambda's FunctionConfiguration, with the members
// gureum has an answer for.
type functionConfiguration struct {
	FunctionName     string       `json:"FunctionName"`
	FunctionArn      string       `json:"FunctionArn"`
	Runtime          string       `json:"Runtime"`
	Handler          string       `json:"Handler,omitempty"`
	CodeSize         int64        `json:"CodeSize"`
	CodeSha256       string       `json:"CodeSha256,omitempty"`
	Description      string       `json:"Description"`
	Timeout          int          `json:"Timeout"`
	MemorySize       int          `json:"MemorySize"`
	LastModified     string       `json:"LastModified"`
	Version          string       `json:"Version"`
	Environment      *environment `json:"Environment,omitempty"`
	State            string       `json:"State"`
	LastUpdateStatus string       `json:"LastUpdateStatus"`
	PackageType      string       `json:"PackageType"`
}

type environment struct {
	Variables map[string]string `json:"Variables"`
}

// lastModifiedFormat is how Lambda writes LastModified.
const lastModifiedFormat = "2006-01-02T15:04:05.000-0700"

// configuration describes version v as reached through qualifier.
func (h *Handler) configuration(v *registry.Version, qualifier string) functionConfiguration {
	c := v.Config
	version, arnQualifier := v.VersionString(), qualifier
	if qualifier == "" || qualifier == registry.LatestQualifier {
		// As in Lambda: the unqualified function is $LATEST, with an
		// unqualified ARN.
		version, arnQualifier = registry.LatestQualifier, ""
	}
	fc := functionConfiguration{
		FunctionName:     c.Name,
		FunctionArn:      h.arn(c.Name, arnQualifier),
		Runtime:          c.Runtime,
		Handler:          c.Handler,
		CodeSize:         c.ArtifactSize,
		Timeout:          int(math.Ceil(c.Timeout.Std().Seconds())),
		MemorySize:       c.MemoryMiB,
		LastModified:     v.CreatedAt.UTC().Format(lastModifiedFormat),
		Version:          version,
		State:            "Active",
		LastUpdateStatus: "Successful",
		PackageType:      "Zip",
	}
	// Lambda's CodeSha256 is the base64 of the digest; the registry keeps hex.
	if sum, err := hex.DecodeString(c.ArtifactHash); err == nil {
		fc.CodeSha256 = base64.StdEncoding.EncodeToString(sum)
	}
	if len(c.Env) > 0 {
		fc.Environment = &environment{Variables: c.Env}
	}
	return fc
}

// getFunction serves GetFunction and, with full false,
// GetFunctionConfiguration.
func (h *Handler) getFunction(w http.ResponseWriter, r *http.Request, rawName string, full bool) {
	name, qualifier, aerr := h.resolveRef(r, rawName)
	if aerr != nil {
		aerr.write(w)
		return
	}
	v, aerr := h.lookup(r.Context(), name, qualifier)
	if aerr != nil {
		aerr.write(w)
		return
	}
	fc := h.configuration(v, qualifier)
	if !full {
		writeJSON(w, fc)
		return
	}
	type concurrency struct {
		ReservedConcurrentExecutions int `json:"ReservedConcurrentExecutions"`
	}
	out := struct {
		Configuration functionConfiguration `json:"Configuration"`
		Concurrency   *concurrency          `json:"Concurrency,omitempty"`
	}{Configuration: fc}
	if v.Config.Concurrency > 0 {
		out.Concurrency = &concurrency{v.Config.Concurrency}
	}
	writeJSON(w, out)
}

// Paging of ListFunctions, as in Lambda.
const (
	defaultMaxItems = 50
	maxMaxItems     = 10000
)

// listFunctions serves ListFunctions: the $LATEST of every function, by
// name. Marker is the name to start from, as NextMarker gave it.
func (h *Handler) listFunctions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultMaxItems
	if s := q.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxMaxItems {
			newError(CodeValidation, "1 validation error detected: Value '"+clip(s)+
				"' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000").write(w)
			return
		}
		limit = n
	}
	all, err := h.cfg.Functions.LatestAll(r.Context())
	if err != nil {
		newError(CodeService, "Could not list functions: "+err.Error()).write(w)
		return
	}
	start := 0
	if marker := q.Get("Marker"); marker != "" {
		start = sort.Search(len(all), func(i int) bool { return all[i].Config.Name >= marker })
	}
	out := struct {
		Functions  []functionConfiguration `json:"Functions"`
		NextMarker string                  `json:"NextMarker,omitempty"`
	}{Functions: []functionConfiguration{}}
	for i := start; i < len(all); i++ {
		if len(out.Functions) == limit {
			out.NextMarker = all[i].Config.Name
			break
		}
		out.Functions = append(out.Functions, h.configuration(all[i], ""))
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		newError(CodeService, "Could not encode the answer: "+err.Error()).write(w)
		return
	}
	hdr := w.Header()
	hdr["Content-Type"] = []string{"application/json"}
	hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	w.Write(b) //nolint:errcheck // the client went away; nothing to do
}
