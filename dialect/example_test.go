package dialect_test

import (
	"fmt"

	"github.com/rollsafe/rollsafe/dialect"
)

func ExampleParse() {
	d, err := dialect.Parse("mariadb")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d, d.Driver())

	_, err = dialect.Parse("oracle")
	fmt.Println(err)
	// Output:
	// mysql mysql
	// dialect: unknown dialect "oracle" (want sqlite, postgres or mysql)
}

func ExampleDialect_Rebind() {
	q := "UPDATE rollsafe_instances SET last_seen = ? WHERE id = ?"
	fmt.Println(dialect.Postgres.Rebind(q))
	fmt.Println(dialect.MySQL.Rebind(q))
	// Output:
	// UPDATE rollsafe_instances SET last_seen = $1 WHERE id = $2
	// UPDATE rollsafe_instances SET last_seen = ? WHERE id = ?
}
