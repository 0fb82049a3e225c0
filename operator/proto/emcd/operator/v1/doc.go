// Package operatorv1 is the generated Go code for emcd.operator.v1
// (operator.proto beside this file): messages, the Operator client and the
// server interface. Do not edit the *.pb.go files; regenerate them as
// described in package operator's doc.go.
package operatorv1
