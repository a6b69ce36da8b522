"""The operator's office browser for the dashboard's documentation screenshots: Debian's headless chromium at
1366x768 in Chinese, and a login. (The tests have their own fixture; this is for devtools scripts only.)"""

from __future__ import annotations

import os
from typing import Any


def office_browser(profile_dir: str) -> Any:
    """A headless chromium the size of an office screen; the caller quits it."""
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1366,768", "--lang=zh-CN",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile_dir}", "--hide-scrollbars"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def log_in(driver: Any, base_url: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
