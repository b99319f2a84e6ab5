// The package entry that asc resolves for "@tokenwire/listener".
export * from "./assembly/index";
