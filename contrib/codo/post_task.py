#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Submit a task to Taskgate the way OpenDevOps (CODO) scripts do.

This is the shape of the CODO `codo_post_task.py` hook script: a GET for the csrf_key,
then a POST of a JSON body whose `args` and `hosts` are Python `str(dict)` text, with the
`auth_key` and `csrf_key` cookies. Pointing an existing CODO script at Taskgate needs
only two changes: `accept_task_url` and `auth_key` below.

    python3 post_task.py [TEMPLATE_ID] [ready|new] [TAG]

`auth_key` is a long-lived Taskgate API token with the task:submit scope:
    taskgate token create --user githook --name codo-hook --scopes task:submit
"""

import datetime
import json
import sys

import requests

# The two lines to change: where Taskgate listens, and your token.
accept_task_url = 'http://127.0.0.1:8080/api/task/v2/task/accept/'
auth_key = 'PASTE-YOUR-TASKGATE-API-TOKEN-HERE'


def post_task(temp_id, schedule, tag):
    # Hosts per group of the template: group 1 gets these addresses.
    hosts = {1: '127.0.0.1'}
    # Parameters of the template's commands.
    args = {
        "TAG": tag,
        "GIT_URL": "git@gitlab.example.com:ops/web.git",
        "APP_NAME": "Web",
    }
    the_body = json.dumps({
        "task_name": "脚本任务 " + tag,
        "temp_id": temp_id,
        "args": str(args),
        "details": "submitted by contrib/codo/post_task.py",
        "hosts": str(hosts),
        "submitter": "githook",
        "exec_time": datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S'),
        "schedule": schedule,
        "executor": "githook",
    })

    req1 = requests.get(accept_task_url, cookies=dict(auth_key=auth_key))
    csrf_key = json.loads(req1.text)['csrf_key']
    cookies = dict(auth_key=auth_key, csrf_key=csrf_key)
    req = requests.post(accept_task_url, data=the_body, cookies=cookies)
    answer = json.loads(req.text)
    if answer['code'] != 0:
        print('task commit failed: %s' % answer['msg'])
        sys.exit(-111)
    print('Asynchronous task has been submitted successfully!!! list_id=%s' % answer['list_id'])


if __name__ == '__main__':
    template_id = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    schedule = sys.argv[2] if len(sys.argv) > 2 else 'ready'
    tag = sys.argv[3] if len(sys.argv) > 3 else 'release-1.0'
    post_task(template_id, schedule, tag)
