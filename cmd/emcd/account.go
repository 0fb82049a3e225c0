package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func newAccountCmd(g *globals) *cobra.Command {
	var passFile string
	var light bool
	cmd := &cobra.Command{
		Use:   "account",
		Short: "Manage the scrypt-encrypted keys in DATADIR/keystore (go-ethereum keystore format)",
	}
	cmd.PersistentFlags().StringVar(&passFile, "password", "", "file whose first line is the password (prompted when absent)")
	cmd.PersistentFlags().BoolVar(&light, "lightkdf", false, "use light scrypt parameters (fast, for tests only; insecure)")
	ks := func() *keystore.KeyStore {
		n, p := keystore.StandardScryptN, keystore.StandardScryptP
		if light {
			n, p = keystore.LightScryptN, keystore.LightScryptP
		}
		return keystore.NewKeyStore(g.resolvedDataDir().Keystore(), n, p)
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "new",
		Short: "Create a new account and print its address",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			pw, err := readPassword(passFile, "Password for the new account: ", true, c.InOrStdin(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			acct, err := ks().NewAccount(pw)
			if err != nil {
				return fmt.Errorf("create account: %w", err)
			}
			fmt.Fprintf(c.OutOrStdout(), "%s\n%s\n", acct.Address.Hex(), acct.URL.Path)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "import KEYFILE",
		Short: "Import a hex-encoded secp256k1 private key from KEYFILE",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			key, err := crypto.LoadECDSA(args[0])
			if err != nil {
				return fmt.Errorf("load key %s: %w", args[0], err)
			}
			pw, err := readPassword(passFile, "Password for the imported account: ", true, c.InOrStdin(), c.ErrOrStderr())
			if err != nil {
				return err
			}
			acct, err := ks().ImportECDSA(key, pw)
			if err != nil {
				return fmt.Errorf("import key: %w", err)
			}
			fmt.Fprintf(c.OutOrStdout(), "%s\n", acct.Address.Hex())
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the accounts in the keystore",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			for i, a := range ks().Accounts() {
				fmt.Fprintf(c.OutOrStdout(), "#%d: %s %s\n", i, a.Address.Hex(), a.URL.Path)
			}
			return nil
		},
	})
	return cmd
}

// readPassword reads the first line of file, or prompts on a terminal.
func readPassword(file, prompt string, confirm bool, in io.Reader, out io.Writer) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(out, prompt)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(out)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if confirm {
			fmt.Fprint(out, "Repeat password: ")
			again, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(out)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			if string(again) != string(pw) {
				return "", errors.New("passwords do not match")
			}
		}
		return string(pw), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password: give --password FILE or run on a terminal")
	}
	return strings.TrimRight(line, "\r\n"), nil
}
