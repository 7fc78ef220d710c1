package main

// rulesKey is the config file section holding authorisation rules.
const rulesKey = "rules"
