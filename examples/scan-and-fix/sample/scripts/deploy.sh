#!/bin/sh
set -eu

deploy() {
	echo "deploying $1"
	  scp -r dist "$1:/srv/app"
  	ssh "$1" systemctl restart app
}

for host in "$@"; do
	deploy "$host"
done
