package manifest

import "strings"

// awsNames maps AWS's names of settings, lower-cased, to the manifest's, so
// that a setting copied from an AWS template gets a suggestion.
var awsNames = map[string]string{
	"visibilitytimeout":              "visibility",
	"messageretentionperiod":         "retention",
	"delayseconds":                   "delay",
	"maxreceivecount":                "maxReceives",
	"deadletterqueue":                "dlq",
	"deadlettertargetarn":            "dlq",
	"maximummessagesize":             "maxMessageSize",
	"batchsize":                      "batch",
	"maximumbatchingwindowinseconds": "window",
	"maximumbatchingwindow":          "window",
	"batchingwindow":                 "window",
	"maximumconcurrency":             "concurrency",
	"maximumretryattempts":           "retries",
	"maximumeventageinseconds":       "maxEventAge",
	"filterpolicy":                   "filter",
	"filterpolicyscope":              "filterScope",
	"rawmessagedelivery":             "raw",
	"scheduleexpression":             "expression",
	"scheduleexpressiontimezone":     "timezone",
	"endpoint":                       "http",
}

// suggest returns the known word closest to word, or "" when none is close
// enough to be a likely typo. Case is ignored.
func suggest(word string, known []string) string {
	w := strings.ToLower(word)
	limit := 2
	if len(w) <= 4 {
		limit = 1
	}
	best, bestDist := "", limit+1
	for _, k := range known {
		if d := editDistance(w, strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Nothing that long is a typo of a key.
		return max(len(a), len(b))
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
