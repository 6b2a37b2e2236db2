package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gureum/gureum/internal/admin"
	"github.com/gureum/gureum/internal/apiclient"
)

// This file holds what the queue, topic, schedule and dlq commands share.

// readMessage returns a message body given as the argument after the
// command's NAME, with --file, or read from standard input ('-' as either).
func readMessage(env IO, args []string, file string) (string, error) {
	arg, hasArg := "", len(args) > 0
	if hasArg {
		arg = args[0]
	}
	var data []byte
	var err error
	switch {
	case hasArg && file != "":
		return "", errors.New("give the message as an argument or with --file, not both")
	case arg == "-" || file == "-":
		data, err = io.ReadAll(env.Stdin)
	case file != "":
		data, err = os.ReadFile(env.resolve(file))
	case hasArg:
		return arg, nil
	default:
		return "", errors.New("no message: give it as an argument, with --file FILE, or '-' to read standard input")
	}
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// messageAttributes builds message attributes from --attr k=v (String) and
// --number-attr k=n (Number) flags.
func messageAttributes(strs, nums []string) (map[string]admin.MessageAttribute, error) {
	if len(strs)+len(nums) == 0 {
		return nil, nil
	}
	attrs := make(map[string]admin.MessageAttribute, len(strs)+len(nums))
	add := func(flag, kv, dataType string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--%s %q: want NAME=VALUE", flag, kv)
		}
		if _, dup := attrs[k]; dup {
			return fmt.Errorf("--%s %q: attribute %s is given twice", flag, kv, k)
		}
		if dataType == "Number" {
			if n, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				return fmt.Errorf("--%s %q: %q is not a number", flag, kv, v)
			}
		}
		attrs[k] = admin.MessageAttribute{DataType: dataType, StringValue: v}
		return nil
	}
	for _, kv := range strs {
		if err := add("attr", kv, "String"); err != nil {
			return nil, err
		}
	}
	for _, kv := range nums {
		if err := add("number-attr", kv, "Number"); err != nil {
			return nil, err
		}
	}
	return attrs, nil
}

// formatAttributes prints attributes as k=v, sorted by name.
func formatAttributes(attrs map[string]admin.MessageAttribute) string {
	keys := slices.Sorted(maps.Keys(attrs))
	parts := make([]string, len(keys))
	for i, k := range keys {
		a := attrs[k]
		v := a.StringValue
		if v == "" && len(a.BinaryValue) > 0 {
			v = fmt.Sprintf("<%d bytes>", len(a.BinaryValue))
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, " ")
}

// wholeSeconds turns a duration flag into whole seconds from 0 to max.
func wholeSeconds(flag string, d time.Duration, max int) (int, error) {
	if d < 0 || d%time.Second != 0 || d > time.Duration(max)*time.Second {
		return 0, fmt.Errorf("--%s %s: want whole seconds from 0s to %s", flag, d, time.Duration(max)*time.Second)
	}
	return int(d / time.Second), nil
}

// explain adds to an API error what the user can do about it.
func explain(err error) error {
	var e *apiclient.Error
	if !errors.As(err, &e) {
		return err
	}
	switch {
	case e.Code == admin.CodeQueueNotFound:
		return fmt.Errorf("%w; see 'gureum queue ls' for the queues there are", err)
	case e.Code == admin.CodeTopicNotFound:
		return fmt.Errorf("%w; see 'gureum topic ls' for the topics there are", err)
	case e.Code == admin.CodeNotFound && strings.HasPrefix(e.Message, "no admin endpoint"):
		return fmt.Errorf("%w; the node does not serve queues, topics and schedules yet: is it an older gureum?", err)
	}
	return err
}

// when formats t in local time with how far it is from now: "2024-05-01
// 12:00:00 (in 4m)"; "-" for the zero time.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	rel := "now"
	switch {
	case d >= time.Second:
		rel = "in " + roughly(d)
	case d <= -time.Second:
		rel = roughly(-d) + " ago"
	}
	return t.Local().Format(time.DateTime) + " (" + rel + ")"
}

// roughly formats a positive duration in its largest unit: 12s, 4m, 5h, 3d.
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// ageSeconds formats an age given in seconds; "-" when there is none.
func ageSeconds(s float64) string {
	if s <= 0 {
		return "-"
	}
	return roughly(time.Duration(s * float64(time.Second)))
}

// orDash is s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine shortens s to one line of at most n runes for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
