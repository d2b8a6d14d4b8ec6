package check_test

import (
	"context"
	"fmt"
	"os"

	"github.com/rollsafe/rollsafe/migrate/check"
)

// Two renames: 2 is unacknowledged, 3 carries a "-- rollsafe:contract
// reason=…" line. With WithSince(2), release 2 has shipped and only what
// comes after it is held against the previous release.
func ExampleWithSince() {
	fsys := os.DirFS("testdata/compat/contract")
	for _, opts := range [][]check.Option{nil, {check.WithSince(2)}} {
		rep, err := check.Run(context.Background(), fsys, opts...)
		if err != nil {
			fmt.Println("could not run:", err)
			return
		}
		for _, f := range rep.All() {
			fmt.Println(f.Source, f.Severity, f.Code, check.IsContract(f.Code))
		}
		fmt.Println("ok:", rep.OK)
	}
	// Output:
	// 00002_rename_name.sql error column_renamed true
	// 00003_rename_email.sql info column_renamed true
	// ok: false
	// 00002_rename_name.sql info column_renamed true
	// 00003_rename_email.sql info column_renamed true
	// ok: true
}
