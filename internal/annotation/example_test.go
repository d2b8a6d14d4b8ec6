package annotation_test

import (
	"fmt"

	"github.com/rollsafe/rollsafe/internal/annotation"
)

func ExampleParse() {
	src := []byte(`-- rollsafe:contract reason="orders.legacy_state is unread since release 41"
-- +goose Up
ALTER TABLE orders DROP COLUMN legacy_state;
`)
	set, err := annotation.Parse(src)
	if err != nil {
		fmt.Println(err)
		return
	}
	if a, ok := set.Get(annotation.Contract); ok {
		fmt.Printf("line %d: %s: %s\n", a.Line, a.Kind, a.Reason)
	}

	_, err = annotation.Parse([]byte("-- rollsafe:contract\n"))
	fmt.Println(err)
	// Output:
	// line 1: contract: orders.legacy_state is unread since release 41
	// bad rollsafe annotation: line 1: rollsafe:contract needs reason="why"
}
