package main

import "strings"

// GitHub Actions workflow commands ("::error file=F,title=T::MESSAGE")
// reserve a few characters; these two functions encode them for every
// command that prints annotations.

// githubData escapes a workflow command's message (the text after "::").
func githubData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// githubProperty escapes a workflow command's property value (file=,
// title=), where ':' and ',' are reserved too.
func githubProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
