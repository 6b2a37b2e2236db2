package lambdaapi

import (
	"fmt"
	"strings"
)

// functionRef is a FunctionName path parameter taken apart.
type functionRef struct {
	Name      string
	Qualifier string // from the name (name:qualifier or a qualified ARN); "" if none
	Region    string // from a full ARN; "" otherwise
	Account   string // from an ARN; "" otherwise
}

// parseFunctionName accepts the forms Lambda accepts for FunctionName:
//
//	my-function                                                 name
//	my-function:v1                                              name with a version or alias
//	123456789012:function:my-function[:v1]                      partial ARN
//	arn:aws:lambda:us-east-1:123456789012:function:my-function[:v1]  full ARN
//
// It reports a malformed name with a message for ValidationException.
func parseFunctionName(s string) (functionRef, error) {
	var ref functionRef
	if len(s) == 0 || len(s) > 170 {
		return ref, fmt.Errorf("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must have length between 1 and 170", clip(s))
	}
	parts := strings.Split(s, ":")
	switch {
	case parts[0] == "arn":
		// arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
		if (len(parts) != 7 && len(parts) != 8) || !strings.HasPrefix(parts[1], "aws") || parts[2] != "lambda" ||
			!isRegion(parts[3]) || !isAccount(parts[4]) || parts[5] != "function" {
			return ref, malformedName(s)
		}
		ref.Region, ref.Account, ref.Name = parts[3], parts[4], parts[6]
		if len(parts) == 8 {
			ref.Qualifier = parts[7]
		}
	case len(parts) >= 3:
		// ACCOUNT:function:NAME[:QUALIFIER]
		if len(parts) > 4 || !isAccount(parts[0]) || parts[1] != "function" {
			return ref, malformedName(s)
		}
		ref.Account, ref.Name = parts[0], parts[2]
		if len(parts) == 4 {
			ref.Qualifier = parts[3]
		}
	default:
		ref.Name = parts[0]
		if len(parts) == 2 {
			ref.Qualifier = parts[1]
		}
	}
	if !validName(ref.Name) {
		return ref, malformedName(s)
	}
	if len(parts) == 2 || len(parts) == 4 || len(parts) == 8 {
		if !validQualifier(ref.Qualifier) {
			return ref, malformedName(s)
		}
	}
	return ref, nil
}

func malformedName(s string) error {
	return fmt.Errorf("1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: "+
		"Member must be a function name (1 to 64 letters, digits, - or _), optionally followed by :VERSION or :ALIAS, "+
		"or a function ARN such as arn:aws:lambda:REGION:ACCOUNT:function:NAME", clip(s))
}

// validName accepts function names as the registry does: 1 to 64 letters,
// digits, hyphens and underscores.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validQualifier accepts what Lambda's Qualifier pattern does:
// 1 to 128 letters, digits, $, - or _.
func validQualifier(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(isAlnum(c) || c == '$' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isAccount: twelve digits.
func isAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isRegion: lower-case letters, digits and hyphens, such as us-east-1.
func isRegion(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// clip shortens what a message quotes back.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
